; Definitions: classes and modules (`class A::B` is named B).
(class name: (constant) @name) @definition.class
(class name: (scope_resolution name: (constant) @name)) @definition.class
(module name: (constant) @name) @definition.module
(module name: (scope_resolution name: (constant) @name)) @definition.module

; Methods: `def f`, `def self.f` / `def obj.f` (also setters and operators, `def x=`,
; `def ==`); inside classes and modules they become methods.
(method name: (_) @name) @definition.function
(singleton_method name: (_) @name) @definition.function

; References: method calls (with or without receiver), `Foo.new`, and superclasses.
(call method: (identifier) @name) @reference.call
((call receiver: [(constant) @name (scope_resolution name: (constant) @name)]
       method: (identifier) @_new) @reference.class
  (#eq? @_new "new"))
(superclass (constant) @name) @reference.class
(superclass (scope_resolution name: (constant) @name)) @reference.class
