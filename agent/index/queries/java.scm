; Definitions: classes, records, interfaces, annotation types and enums.
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum

; Methods and constructors (always inside a type, so they become methods).
(method_declaration name: (identifier) @name) @definition.function
(constructor_declaration name: (identifier) @name) @definition.function
(compact_constructor_declaration name: (identifier) @name) @definition.function

; References: method calls, and `new Foo()` / `new Foo<T>()` / `new a.Foo()`.
(method_invocation name: (identifier) @name) @reference.call
(object_creation_expression type: (type_identifier) @name) @reference.class
(object_creation_expression type: (generic_type . (type_identifier) @name)) @reference.class
(object_creation_expression
  type: (scoped_type_identifier (type_identifier) @name .)) @reference.class

; Base classes and implemented / extended interfaces.
(superclass (type_identifier) @name) @reference.class
(superclass (generic_type . (type_identifier) @name)) @reference.class
(super_interfaces (type_list (type_identifier) @name)) @reference.interface
(super_interfaces (type_list (generic_type . (type_identifier) @name))) @reference.interface
(extends_interfaces (type_list (type_identifier) @name)) @reference.interface
(extends_interfaces (type_list (generic_type . (type_identifier) @name))) @reference.interface
