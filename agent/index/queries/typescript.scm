; Definitions: classes, interfaces, type aliases, enums, and namespaces (a scope, not a
; container: their functions stay functions).
(class_declaration name: (type_identifier) @name) @definition.class
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(interface_declaration name: (type_identifier) @name) @definition.interface
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
(internal_module name: [(identifier) (nested_identifier)] @name) @definition.namespace
(module name: [(identifier) (nested_identifier)] @name) @definition.namespace
(module name: (string (string_fragment) @name)) @definition.namespace

; Functions by declaration or signature, and methods (functions inside classes and
; interfaces become methods).
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(function_signature name: (identifier) @name) @definition.function
(method_definition name: (property_identifier) @name) @definition.function
(method_signature name: (property_identifier) @name) @definition.function
(abstract_method_signature name: (property_identifier) @name) @definition.function

; `const f = () => ...` and `const f = function () {...}`.
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function) (generator_function)]) @definition.function

; `exports.f = function () {...}` and `obj.f = () => ...`.
(assignment_expression
  left: (member_expression property: (property_identifier) @name)
  right: [(arrow_function) (function) (generator_function)]) @definition.function

; References: calls by plain name or member, and `new Foo()`.
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (member_expression property: (property_identifier) @name)) @reference.call
(new_expression constructor: (identifier) @name) @reference.class

; Base classes and implemented interfaces.
(extends_clause value: (identifier) @name) @reference.class
(extends_clause value: (member_expression property: (property_identifier) @name)) @reference.class
(implements_clause (type_identifier) @name) @reference.interface
(implements_clause (generic_type name: (type_identifier) @name)) @reference.interface
(extends_type_clause type: (type_identifier) @name) @reference.interface

; Types named in annotations: `x: Foo`, `(): Foo<T>`.
(type_annotation (type_identifier) @name) @reference.type
(type_annotation (generic_type name: (type_identifier) @name)) @reference.type
