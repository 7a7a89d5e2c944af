; Inno Setup recipe for Windows: run after `python packaging\build.py` on a Windows machine.
;   iscc /DAppVersion=0.1.0 packaging\FastMixStudio.iss
; Installs per user (no admin rights needed), works offline, adds a Start-menu entry.
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6A1F3C2E-9B7D-4E5A-8C21-FA57F1D0B3C4}
AppName=FastMix Studio
AppVersion={#AppVersion}
AppPublisher=FastMix Studio developers
DefaultDirName={localappdata}\Programs\FastMix Studio
DefaultGroupName=FastMix Studio
PrivilegesRequired=lowest
OutputDir=..\dist
OutputBaseFilename=FastMixStudio-{#AppVersion}-setup
SetupIconFile=..\build\packaging\fastmix-studio.ico
Compression=lzma2
SolidCompression=yes
ArchitecturesInstallIn64BitMode=x64compatible

[Files]
Source: "..\dist\FastMixStudio\*"; DestDir: "{app}"; Flags: recursesubdirs createallsubdirs ignoreversion

[Icons]
Name: "{group}\FastMix Studio"; Filename: "{app}\FastMixStudio.exe"
Name: "{group}\FastMix Studio (demo study)"; Filename: "{app}\FastMixStudio.exe"; Parameters: "--demo"
Name: "{userdesktop}\FastMix Studio"; Filename: "{app}\FastMixStudio.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "Create a desktop shortcut"; Flags: unchecked

[Run]
Filename: "{app}\FastMixStudio.exe"; Parameters: "--self-test"; Description: "Run the self-test"; Flags: postinstall skipifsilent unchecked
