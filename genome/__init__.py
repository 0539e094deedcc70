"""Genome-scale input: windows over long sequences (whole genomes, BED regions) and VCF variants.

Below the command line (``chatnt scan``, ``chatnt variants``) and above the FASTA reader; nothing here touches a
model.
"""
