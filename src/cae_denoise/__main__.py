"""``python -m cae_denoise``: the same CLI as the ``cae-denoise`` script."""

from .cli.app import main

main()
