; Definitions: structs, unions, enums, traits, type aliases, macros, and modules (kind
; namespace: a scope, not a container, so their functions stay functions).
(struct_item name: (type_identifier) @name) @definition.struct
(union_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(trait_item name: (type_identifier) @name) @definition.trait
(mod_item name: (identifier) @name) @definition.namespace
(type_item name: (type_identifier) @name) @definition.type
(macro_definition name: (identifier) @name) @definition.macro

; Impl blocks are named after their type, so their functions qualify as `Type.method`
; (`impl Trait for Type` too; `impl<T> Wrapper<T>` is `Wrapper`, `impl a::B` is `B`).
(impl_item type: (type_identifier) @name) @definition.impl
(impl_item type: (generic_type type: (type_identifier) @name)) @definition.impl
(impl_item type: (scoped_type_identifier name: (type_identifier) @name)) @definition.impl

; Functions, and trait method signatures (inside traits and impls they become methods).
(function_item name: (identifier) @name) @definition.function
(function_signature_item name: (identifier) @name) @definition.function

; References: calls by plain name, method (`x.f()`) or path (`Type::f()`), and macros.
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (field_expression field: (field_identifier) @name)) @reference.call
(call_expression function: (scoped_identifier name: (identifier) @name)) @reference.call
(call_expression
  function: (generic_function function: (identifier) @name)) @reference.call
(macro_invocation macro: (identifier) @name) @reference.macro

; Traits implemented, and struct literals (`Greeter { .. }`).
(impl_item trait: (type_identifier) @name) @reference.trait
(impl_item trait: (scoped_type_identifier name: (type_identifier) @name)) @reference.trait
(struct_expression name: (type_identifier) @name) @reference.type
