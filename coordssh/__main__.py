from coordssh.cli.main import main

raise SystemExit(main())
