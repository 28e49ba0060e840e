; Definitions: classes, and functions by declaration, method or assignment
; (functions inside classes become methods).
(class_declaration name: (identifier) @name) @definition.class
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(method_definition name: (property_identifier) @name) @definition.function

; `const f = () => ...` and `const f = function () {...}`.
(variable_declarator
  name: (identifier) @name
  value: [(arrow_function) (function) (generator_function)]) @definition.function

; `exports.f = function () {...}` and `obj.f = () => ...`.
(assignment_expression
  left: (member_expression property: (property_identifier) @name)
  right: [(arrow_function) (function) (generator_function)]) @definition.function

; References: calls by plain name or member, `new Foo()`, and base classes.
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (member_expression property: (property_identifier) @name)) @reference.call
(new_expression constructor: (identifier) @name) @reference.class
(class_heritage (identifier) @name) @reference.class

; JSX components used as elements: `<Badge />` (capitalized names; lower case are HTML tags).
((jsx_self_closing_element name: (identifier) @name) @reference.call
  (#match? @name "^[A-Z]"))
((jsx_opening_element name: (identifier) @name) @reference.call
  (#match? @name "^[A-Z]"))
