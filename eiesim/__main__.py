from eiesim.cli import main

main()
