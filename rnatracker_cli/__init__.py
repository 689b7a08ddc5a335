"""rnatracker: learn and explain mRNA subcellular localization from sequence."""

__version__ = "0.1.0"

#: The public Python API (rnatracker_cli.api), imported on first use so that importing the
#: package (and `rnatracker --help`) stays fast.
_API = ("LoadedModel", "load_model", "predict_sequences", "resolve_model", "scan_sequences")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API or name == "api":
        import importlib

        api = importlib.import_module("rnatracker_cli.api")
        return api if name == "api" else getattr(api, name)
    raise AttributeError(f"module 'rnatracker_cli' has no attribute {name!r}")
