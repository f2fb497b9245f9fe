"""The deterministic demo city around Xi'an: generated with numpy, loaded with COPY.

``load_demo(conn, shops=5000, seed=42)`` replaces all business data (it does not commit);
``database_is_empty(conn)`` tells whether there is anything to replace.
"""

from domain.demo.load import database_is_empty, load_demo
from domain.demo.summary import DemoCredential, DemoSummary

__all__ = ["DemoCredential", "DemoSummary", "database_is_empty", "load_demo"]
