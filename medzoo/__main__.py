from medzoo.cli import main

main()
