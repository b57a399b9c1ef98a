pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "vizwiz-vqa-android"
// core: the pure-Kotlin library the app packages; cli: its desktop command line (javax.imageio),
// never packaged into the app.
include(":core", ":cli", ":app")
