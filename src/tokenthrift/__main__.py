from tokenthrift.cli.main import cli

cli()
