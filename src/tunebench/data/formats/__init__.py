"""One reader (and, for the synthetic world, one writer) per public data format.

Every reader returns `list[Record]`. `Record.image` is the image path joined onto the image folder the
caller gives (so it opens as is), or the name as the file states it when no folder is given.
Benchmark fields go to `Record.meta` under the names the metrics read: VQA-v2 answer_type /
question_type / split; GQA structural / semantic / detailed; MME subtask / image (the pair key);
POPE split; and skill wherever the file (or, for MME, the subtask) says it.
"""
