from helion2json.core.cli import main

raise SystemExit(main())
