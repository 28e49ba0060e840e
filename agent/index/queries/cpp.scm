; Definitions: classes, structs, unions and enums with a body (also template
; specializations `class Box<int> {}` and `class a::B {}`), namespaces (a scope, not a
; container: their functions stay functions), aliases and typedefs.
(class_specifier name: (type_identifier) @name body: (field_declaration_list)) @definition.class
(class_specifier name: (template_type name: (type_identifier) @name) body: (field_declaration_list)) @definition.class
(class_specifier name: (qualified_identifier name: (type_identifier) @name) body: (field_declaration_list)) @definition.class
(struct_specifier name: (type_identifier) @name body: (field_declaration_list)) @definition.struct
(struct_specifier name: (template_type name: (type_identifier) @name) body: (field_declaration_list)) @definition.struct
(struct_specifier name: (qualified_identifier name: (type_identifier) @name) body: (field_declaration_list)) @definition.struct
(union_specifier name: (type_identifier) @name body: (field_declaration_list)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (enumerator_list)) @definition.enum
(namespace_definition name: [(namespace_identifier) (nested_namespace_specifier)] @name) @definition.namespace
(alias_declaration name: (type_identifier) @name) @definition.type
(type_definition declarator: (type_identifier) @name @definition.type)

; Functions by their declarator, bare or under `*`, `**` or `&` (return types):
; `f()`, in-class `m()`, operators and destructors (inside classes they become methods).
(function_definition
  declarator: [
    (function_declarator
      declarator: [(identifier) (field_identifier) (operator_name) (destructor_name)] @name)
    (pointer_declarator
      declarator: (function_declarator
        declarator: [(identifier) (field_identifier) (operator_name) (destructor_name)] @name))
    (pointer_declarator
      declarator: (pointer_declarator
        declarator: (function_declarator
          declarator: [(identifier) (field_identifier) (operator_name) (destructor_name)] @name)))
    (reference_declarator
      (function_declarator
        declarator: [(identifier) (field_identifier) (operator_name) (destructor_name)] @name))
  ]) @definition.function

; Out-of-class member definitions `T Class::m() {}` and `T a::B::m() {}`: the name is the
; last part, and the kind is method (the class is not an enclosing node here).
(function_definition
  declarator: [
    (function_declarator
      declarator: (qualified_identifier
        name: [(identifier) (operator_name) (destructor_name) (template_function)] @name))
    (function_declarator
      declarator: (qualified_identifier
        name: (qualified_identifier
          name: [(identifier) (operator_name) (destructor_name) (template_function)] @name)))
    (pointer_declarator
      declarator: (function_declarator
        declarator: (qualified_identifier
          name: [(identifier) (operator_name) (destructor_name)] @name)))
    (reference_declarator
      (function_declarator
        declarator: (qualified_identifier
          name: [(identifier) (operator_name) (destructor_name)] @name)))
    (pointer_declarator
      declarator: (function_declarator
        declarator: (qualified_identifier
          name: (qualified_identifier name: [(identifier) (operator_name)] @name))))
    (reference_declarator
      (function_declarator
        declarator: (qualified_identifier
          name: (qualified_identifier name: [(identifier) (operator_name)] @name))))
  ]) @definition.method

; Member function declarations inside a class body (`void print() const;`, pure virtuals).
(field_declaration
  declarator: [
    (function_declarator declarator: [(field_identifier) (operator_name) (destructor_name)] @name)
    (pointer_declarator
      declarator: (function_declarator declarator: [(field_identifier) (operator_name)] @name))
    (reference_declarator
      (function_declarator declarator: [(field_identifier) (operator_name)] @name))
  ]) @definition.function

; Constructor and destructor declarations inside a class body (`S(int);`, `~S();`).
(field_declaration_list
  (declaration
    declarator: (function_declarator
      declarator: [(identifier) (destructor_name)] @name)) @definition.function)

; Lambdas bound to a name: `auto f = [](int x) {...};`.
(declaration
  declarator: (init_declarator
    declarator: (identifier) @name
    value: (lambda_expression))) @definition.function

; References: calls by plain name, member (`o.f()`, `p->f()`), qualified name
; (`ns::f()`), or with template arguments (`make<T>()`, `o.get<T>()`).
(call_expression function: (identifier) @name) @reference.call
(call_expression function: (field_expression field: (field_identifier) @name)) @reference.call
(call_expression function: (qualified_identifier name: (identifier) @name)) @reference.call
(call_expression function: (template_function name: (identifier) @name)) @reference.call
(call_expression
  function: (qualified_identifier name: (template_function name: (identifier) @name))) @reference.call
(call_expression
  function: (field_expression field: (template_method name: (field_identifier) @name))) @reference.call

; Types: `new Foo(...)` and base classes.
(new_expression type: (type_identifier) @name) @reference.class
(new_expression type: (template_type name: (type_identifier) @name)) @reference.class
(new_expression type: (qualified_identifier name: (type_identifier) @name)) @reference.class
(base_class_clause (type_identifier) @name) @reference.class
(base_class_clause (template_type name: (type_identifier) @name)) @reference.class
(base_class_clause (qualified_identifier name: (type_identifier) @name)) @reference.class
