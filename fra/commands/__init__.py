"""One module per subcommand; `fra.cli` registers them on the root app."""
