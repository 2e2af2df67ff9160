from stalkrisk.cli.commands import run_and_exit

run_and_exit()
