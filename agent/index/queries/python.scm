; Definitions: classes and functions (functions inside classes become methods).
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function

; References: calls by plain name or attribute, and base classes.
(call function: (identifier) @name) @reference.call
(call function: (attribute attribute: (identifier) @name)) @reference.call
(class_definition superclasses: (argument_list (identifier) @name)) @reference.class
