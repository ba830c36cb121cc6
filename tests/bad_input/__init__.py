"""The catalogue of bad input: every way a user or a script can send riskapp something wrong, through the
browser's forms and through the API, each with the status it gets, the clear error it must read (the field,
what is wrong, how to fix it), and the proof that nothing was lost or created.

One module per area, each a table of cases walked by one test:

- test_uploads.py       model and dataset uploads: refused by the request (empty, oversize, duplicate, the card),
                        refused by the intake scan (wrong format, pickles, TorchScript, Keras, zip bombs, .npz
                        problems), and hostile file names that stay labels
- test_answers.py       questionnaire answers, submission and review
- test_job_parameters.py jobs, security tests, validations and test plans
- test_api_payloads.py  what any API call can get wrong: JSON, media types, types, lengths, ids, pages
- test_decisions.py     risk treatments, quality gates, members and project settings

checks.py holds the machinery: the World a case runs in, where an error is read from, and the snapshot of
everything a refused request must leave as it was.
"""
