"""The compiled scan: every tokenizer spec's rules as tables (``plan``), read by kernels
written for numba (``kernels``), compiled once per machine to object code and loaded
without numba (``machine_code``), called through ctypes (``compiled``); ``dispatch``
chooses between it and a spec's reference implementation. Why, what it saves, how to
change it and how to turn it off: docs/compiled-scan.md.
"""
