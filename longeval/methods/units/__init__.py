"""One module per context-extension method; each registers its `MethodUnit` on import (see methods/base.py).
Every module in this package is imported by the registry, so adding a method is adding a file here."""
