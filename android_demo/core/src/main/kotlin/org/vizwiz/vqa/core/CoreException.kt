package org.vizwiz.vqa.core

/** Bad input to the core (a file, an entry, an argument): the message is one line naming it. */
class CoreException(message: String, cause: Throwable? = null) : Exception(message, cause)
