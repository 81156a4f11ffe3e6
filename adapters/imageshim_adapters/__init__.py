"""The adapters that ship with imageshim: one module per wire API.

``mock`` (deterministic, offline), ``openai`` (POST /v1/images/generations) and ``runware`` (imageInference
tasks). The core finds them by name through :mod:`imageshim._plumbing.registry`; nothing here is imported by
``import imageshim``.
"""

__all__: list[str] = []
