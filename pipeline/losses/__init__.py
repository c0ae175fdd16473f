"""Loss terms, one small function each, with formula and source in the docstring."""
