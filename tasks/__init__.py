"""The genomics tasks every model is trained and scored on: the registry of datasets and splits
(:mod:`~chatnt.tasks.registry`), the published DNAHL records (:mod:`~chatnt.tasks.dnahl`), questions and answers
as conversations (:mod:`~chatnt.tasks.instruction_data`) and reading labels and values back out of answers
(:mod:`~chatnt.tasks.answer_parsing`).

Above the model files, below training, evaluation and the command line, which all need the tasks.
"""
