"""The earlier name of the purchase feed generator, kept so that the command users and
scripts already call still works: `python -m assets_pkg.purchases.generate ...` is
`python -m tools.generate_purchases ...` (the generator lives in tools/, outside the code
location; run either from the checkout)."""

from tools.generate_purchases import main

if __name__ == "__main__":
    raise SystemExit(main())
