; Definitions: classes (case classes too), traits, objects (package objects too), Scala 3
; enums, and type aliases.
(class_definition name: (identifier) @name) @definition.class
(trait_definition name: (identifier) @name) @definition.trait
(object_definition name: (identifier) @name) @definition.object
(package_object name: (identifier) @name) @definition.object
(enum_definition name: (identifier) @name) @definition.enum
(type_definition name: (type_identifier) @name) @definition.type

; Functions, with a body or abstract (inside classes, traits and objects they become methods).
(function_definition name: (identifier) @name) @definition.function
(function_declaration name: (identifier) @name) @definition.function

; References: calls by plain name, member (`a.f(x)`), or with type arguments (`f[T](x)`).
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (field_expression field: (identifier) @name)) @reference.call
(call_expression function: (generic_function function: (identifier) @name)) @reference.call
(call_expression
  function: (generic_function function: (field_expression field: (identifier) @name))) @reference.call

; Types: `new Foo(...)`, `new Foo[T](...)`, and `extends A with B` (matched without the
; `type:` field, which the grammar repeats and the query engine then only half matches).
(instance_expression (type_identifier) @name) @reference.class
(instance_expression (generic_type type: (type_identifier) @name)) @reference.class
(extends_clause (type_identifier) @name) @reference.class
(extends_clause (generic_type type: (type_identifier) @name)) @reference.class
