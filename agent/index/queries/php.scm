; Definitions: classes, interfaces, traits, enums, and namespaces (`namespace A\B;` or
; with a block; a scope, not a container).
(class_declaration name: (name) @name) @definition.class
(interface_declaration name: (name) @name) @definition.interface
(trait_declaration name: (name) @name) @definition.trait
(enum_declaration name: (name) @name) @definition.enum
(namespace_definition name: (namespace_name) @name) @definition.namespace

; Functions, and methods of classes, interfaces, traits and enums.
(function_definition name: (name) @name) @definition.function
(method_declaration name: (name) @name) @definition.function

; References: calls of functions (`f()`, `\A\f()`), methods (`$o->m()`, `$o?->m()`) and
; static methods (`A::m()`).
(function_call_expression function: (name) @name) @reference.call
(function_call_expression function: (qualified_name (name) @name)) @reference.call
(member_call_expression name: (name) @name) @reference.call
(nullsafe_member_call_expression name: (name) @name) @reference.call
(scoped_call_expression name: (name) @name) @reference.call

; Types: `new Foo()`, `new \A\Foo()`, base classes and implemented interfaces.
(object_creation_expression (name) @name) @reference.class
(object_creation_expression (qualified_name (name) @name)) @reference.class
(base_clause (name) @name) @reference.class
(base_clause (qualified_name (name) @name)) @reference.class
(class_interface_clause (name) @name) @reference.interface
(class_interface_clause (qualified_name (name) @name)) @reference.interface
