; Definitions: classes (also data/sealed/abstract), interfaces, enum classes, objects
; (a named companion object too) and type aliases.
(class_declaration "class" name: (type_identifier) @name !body) @definition.class
(class_declaration "class" name: (type_identifier) @name body: (class_body)) @definition.class
(class_declaration "interface" name: (type_identifier) @name) @definition.interface
(class_declaration name: (type_identifier) @name body: (enum_class_body)) @definition.enum
(object_declaration name: (type_identifier) @name) @definition.object
(companion_object name: (type_identifier) @name) @definition.object
(type_alias name: (type_identifier) @name) @definition.type

; Functions (inside classes, interfaces and objects they become methods), and lambdas or
; anonymous functions bound to a property: `val f = { x: Int -> x }`.
(function_declaration name: (simple_identifier) @name) @definition.function
(property_declaration
  variable: (variable_declaration (simple_identifier) @name)
  expression: [(lambda_literal) (anonymous_function)]) @definition.function

; References: calls by plain name (constructor calls `Foo()` look the same) or after a
; dot (`a.b.f()` is `f`).
(call_expression . (simple_identifier) @name) @reference.call
(call_expression
  . (navigation_expression (navigation_suffix (simple_identifier) @name))) @reference.call

; Supertypes: `class A : Base(), I`.
(delegation_specifier (user_type (type_identifier) @name)) @reference.class
(delegation_specifier (constructor_invocation (user_type (type_identifier) @name))) @reference.class
