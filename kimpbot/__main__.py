from kimpbot.cli import main

raise SystemExit(main())
