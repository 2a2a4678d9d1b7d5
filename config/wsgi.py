import os

from django.core.wsgi import get_wsgi_application

from config.embedded import embedded_prepare

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
embedded_prepare()  # before settings are read

application = get_wsgi_application()

from core.runtime import loaded_app_frozen  # noqa: E402 (needs the app loaded above)

loaded_app_frozen()
