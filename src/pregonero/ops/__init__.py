"""Operating Pregonero: backups of the database and the uploaded files, and their restore."""
