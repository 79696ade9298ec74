"""The command line: thin typer commands that parse arguments, call into the packages and print with rich.

Heavy libraries (ccxt, aiohttp, SQLAlchemy, Optuna) are imported inside the command functions so that
``tradewarden backtest`` starts fast.
"""
