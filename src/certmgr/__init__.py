"""certmgr: a server certificate manager for Linux internet servers.

It discovers where each server program reads its certificate, obtains
certificates (built-in private CA, ACME, any CA through a CSR), installs them
safely, proves over the network that they are served, and keeps them renewed.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
