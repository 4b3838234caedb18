"""``python -m cae_denoise``: the same CLI as the ``cae-denoise`` script."""

from .cli import main

main()
