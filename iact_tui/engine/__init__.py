"""The release engine: flows of steps that emit events. Imports no Textual."""
