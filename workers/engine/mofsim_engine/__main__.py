"""`python -m mofsim_engine`: the long-lived engine process (PROTOCOL.md)."""
from .server import main

if __name__ == "__main__":
    main()
