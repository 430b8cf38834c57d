"""Polish for strings of Django's admin and django-import-export that their own catalogues get wrong.

Django's Polish puts a model's name in the nominative where the sentence needs another case ("Wybierz
nagroda do zmiany", "Dodaj nagroda"); a colon makes the name a label and reads right for every model.
django-import-export's Polish leaves two strings of the export form untranslated or wrong. The project's
catalogue (locale/) takes precedence over the libraries', so listing the strings here puts them into it
through makemessages. Nothing imports this module.
"""

from django.utils.translation import gettext_noop

OVERRIDDEN = (
    gettext_noop("Select %s to change"),
    gettext_noop("Select %s to view"),
    gettext_noop("Add %s"),
    gettext_noop("Change %s"),
    gettext_noop("View %s"),
    gettext_noop("Add %(name)s"),
    gettext_noop("This exporter will export the following fields: "),
    gettext_noop("Select all"),
    # django-axes's Polish lacks these model names.
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
)
