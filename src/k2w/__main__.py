from k2w._cli import main

raise SystemExit(main())
