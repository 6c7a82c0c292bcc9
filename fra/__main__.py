from fra.cli import main

main()
