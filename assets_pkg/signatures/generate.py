"""The earlier name of the signature tree generator, kept so that the command users and
scripts already call still works: `python -m assets_pkg.signatures.generate ...` is
`python -m tools.generate_signatures ...` (the generator lives in tools/, outside the code
location; run either from the checkout)."""

from tools.generate_signatures import main

if __name__ == "__main__":
    main()
