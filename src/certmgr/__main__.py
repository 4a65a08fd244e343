from certmgr.cli import main

main()
