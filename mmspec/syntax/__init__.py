"""Phase 1, syntax: spec text -> located AST (the lark grammar, the parser, the AST node types)."""
