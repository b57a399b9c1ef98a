package org.vizwiz.vqa

import android.content.Context
import android.net.Uri
import android.provider.DocumentsContract
import android.provider.DocumentsContract.Document
import android.provider.OpenableColumns
import org.vizwiz.vqa.core.BundleArchive
import org.vizwiz.vqa.core.CoreException
import org.vizwiz.vqa.core.Manifest
import java.io.File

/**
 * A bundle onto the phone without a computer: a folder (ACTION_OPEN_DOCUMENT_TREE) or a .zip of
 * one (ACTION_OPEN_DOCUMENT) picked with the system picker is copied into a staging folder, and
 * listed (moved to `files/bundles/<name>`) only once its manifest and every file's sha256 check.
 */
object BundleImport {
    /** Imports `uri`; returns the bundle's name. Blocking: call it on Dispatchers.IO. */
    fun import(context: Context, uri: Uri, folder: Boolean): String {
        val root = Bundles.own(context).apply { mkdirs() }
        val staging = File(root, ".import.tmp").apply { deleteRecursively() }
        try {
            val bundleDir: File
            val name: String
            if (folder) {
                val treeId = DocumentsContract.getTreeDocumentId(uri)
                name = displayName(context, DocumentsContract.buildDocumentUriUsingTree(uri, treeId)) ?: "imported"
                staging.mkdirs()
                copyTree(context, uri, treeId, staging)
                bundleDir = staging
            } else {
                val input = context.contentResolver.openInputStream(uri) ?: throw CoreException("the file cannot be opened")
                bundleDir = input.use { BundleArchive.extract(it, staging) }
                name = if (bundleDir != staging.canonicalFile) bundleDir.name else (displayName(context, uri) ?: "imported").removeSuffix(".zip")
            }
            Manifest.read(bundleDir) // the manifest, every file's size and sha256
            val safe = name.replace(Regex("[^A-Za-z0-9._-]"), "_").trimStart('.').ifEmpty { "imported" }
            val target = File(root, safe)
            target.deleteRecursively()
            if (!bundleDir.renameTo(target)) throw CoreException("the model could not be stored on the phone")
            return safe
        } finally {
            staging.deleteRecursively()
        }
    }

    private fun displayName(context: Context, uri: Uri): String? =
        context.contentResolver.query(uri, arrayOf(OpenableColumns.DISPLAY_NAME), null, null, null)?.use { c ->
            if (c.moveToFirst()) c.getString(0) else null
        }

    private fun copyTree(context: Context, tree: Uri, documentId: String, dest: File) {
        val children = DocumentsContract.buildChildDocumentsUriUsingTree(tree, documentId)
        val columns = arrayOf(Document.COLUMN_DOCUMENT_ID, Document.COLUMN_DISPLAY_NAME, Document.COLUMN_MIME_TYPE)
        context.contentResolver.query(children, columns, null, null, null)?.use { c ->
            while (c.moveToNext()) {
                val id = c.getString(0)
                val name = c.getString(1)
                if (name.isNullOrEmpty() || '/' in name || name == "." || name == "..") throw CoreException("the folder holds a file named '$name'")
                val target = File(dest, name)
                if (c.getString(2) == Document.MIME_TYPE_DIR) {
                    target.mkdirs()
                    copyTree(context, tree, id, target)
                } else {
                    val input = context.contentResolver.openInputStream(DocumentsContract.buildDocumentUriUsingTree(tree, id))
                        ?: throw CoreException("$name cannot be read")
                    input.use { i -> target.outputStream().use { i.copyTo(it, 1 shl 20) } }
                }
            }
        }
    }
}
