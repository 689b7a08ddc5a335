from rnatracker_cli.cli.app import main

main()
