"""From a file to validated frames: readers, cell cleaning and validation.

Nothing here touches the warehouse: the use cases in ``reval.pipeline`` decide
what to do with accepted rows and problems.
"""
