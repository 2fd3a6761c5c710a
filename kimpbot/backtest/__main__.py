from kimpbot.backtest.cli import main

raise SystemExit(main())
