"""The MIME values of Nim's `std/mimetypes` table, which the Codex node checks uploads against.

`_NIM_VALUES` lists the distinct values of the extension → MIME table in Nim's
`lib/pure/mimetypes.nim` (nim-lang/Nim, read at commit 06524b19; Codex pins Nim 2.2.4, whose
table may differ in a few rare entries). Nim's `getExt` lower-cases the header value and looks
for an exactly equal value, so table values with upper-case letters can never match; they are
dropped here too.
"""

from __future__ import annotations

from functools import cache


@cache
def nim_mimetypes() -> frozenset[str]:
    values = (v.strip() for v in _NIM_VALUES.split())
    return frozenset(v for v in values if v and v == v.lower())


def is_known_mimetype(lowered: str) -> bool:
    return lowered in nim_mimetypes()


_NIM_VALUES = """
application/vnd.lotus-1-2-3 application/vnd.1000minds.decision-model+xml text/h323
text/vnd.in3d.3dml x-world/x-3dmf image/x-3ds video/3gpp2 video/3gpp audio/3gpp
application/vnd.ms-3mfdocument audio/x-mod audio/32kadpcm application/x-7z-compressed text/plain
application/a2l audio/atrac3 application/x-authorware-bin audio/x-aac
audio/atrac-advanced-lossless application/x-authorware-map application/x-authorware-seg
text/vnd.abc application/x-abiword application/pkix-attr-cert audio/ac3
application/vnd.americandynamics.acc application/x-ace-compressed audio/asc
application/vnd.acucobol application/vnd.acucorp application/internet-property-stream
audio/adpcm application/vnd.audiograph video/animaflex application/x-font-type1
application/vnd.ibm.modcap application/vnd.ahead.space application/postscript audio/x-aiff
application/x-aim text/x-audiosoft-intra
application/vnd.adobe.air-application-installer-package+zip application/vnd.dvb.ait
chemical/x-alchemy application/vnd.amiga.ami application/aml audio/amr
application/x-navi-animation application/x-annodex
application/x-nokia-9000-communicator-add-on-software text/apinotes
application/vnd.android.package-archive application/vnd.anki image/apng text/cache-manifest
application/appimage application/x-ms-application application/vnd.lotus-approach
application/mime application/auth-policy+xml application/x-freearc application/x-arj
message/rfc822 binary/asar text/vnd.ascii-art application/vnd.ms-asf
application/vnd.etsi.asic-e+zip application/vnd.etsi.asic-s+zip text/x-asm
chemical/x-ncbi-asn1-spec application/vnd.accpac.simply.aso text/asp video/x-ms-asf
application/atf application/atfx application/atom+xml application/atomcat+xml
application/atomdeleted+xml application/atomserv+xml application/atomsvc+xml
application/vnd.antix.game-component application/atxml audio/basic
application/tamp-apex-update-confirm video/x-msvideo video/avs-video application/applixware
audio/amr-wb audio/x-annodex application/olescript video/x-annodex
application/vnd.airzip.filesecure.azf application/vnd.airzip.filesecure.azs
image/vnd.airzip.accelerator.azv application/vnd.amazon.ebook application/vnd.amazon.mobi8-ebook
chemical/x-molconn-Z application/x-trash application/vnd.qualcomm.brew-app-res text/shell
application/x-msdos-program application/x-bcpio application/x-font-bdf
application/vnd.syncml.dm+wbxml application/bdoc application/vnd.realvnc.bed
application/vnd.fujitsu.oasysprs text/x-bibtex video/vnd.radgamettools.bink
application/octet-stream application/vnd.nervana application/x-blorb binary/blender image/bmp
multipart/vnd.bint.med-plus application/vnd.bmi application/vnd.balsamiq.bmml+xml
application/vnd.balsamiq.bmpr application/book application/vnd.previewsystems.box
application/x-bzip2 application/vnd.hbci chemical/x-crossfire application/x-bsh
model/vnd.valve.source.compiled-map image/prs.btif application/x-bzip text/x-csrc text/x-c++src
application/vnd.cluetrust.cartomobile-config application/vnd.cluetrust.cartomobile-config-pkg
chemical/x-chem3d application/cccex application/vnd.clonk.c4group
application/vnd.ms-cab-compressed chemical/x-cache application/x-cache audio/x-caf
application/vnd.tcpdump.pcap application/vnd.curl.car chemical/x-cactvs-binary
application/vnd.ms-pki.seccat application/x-cbr application/cbor application/vnd.comicbook+zip
application/clariscad text/vnd.net2phone.commcenter.command application/ccmp+xml
application/x-cocoa application/x-director application/ccxml+xml application/x-cdf
application/vnd.contact.cmsg application/x-netcdf application/cdfx+xml
application/vnd.mediastation.cdkey application/cdmi-capability application/cdmi-container
application/cdmi-domain application/cdmi-object application/cdmi-queue image/x-coreldraw
image/x-coreldrawtemplate chemical/x-cdx application/vnd.chemdraw+xml application/vnd.cinderella
application/cea chemical/x-cxf application/cellml+xml application/pkix-cert text/cfg
application/x-cfs-compressed image/cgm application/x-chat application/vnd.ms-htmlhelp
application/vnd.kde.kchart chemical/x-cif application/vnd.anser-web-certificate-issue-initiation
application/vnd.ms-artgalry application/simple-filter+xml application/vnd.claymore
application/java-vm application/vnd.crick.clicker.keyboard application/vnd.crick.clicker.palette
application/vnd.crick.clicker.template application/vnd.crick.clicker.wordbank
application/vnd.crick.clicker application/x-msclip text/x-tex application/clue_info+xml
text/cmake application/vnd.cosmocaller chemical/x-cmdf chemical/x-cml
application/vnd.yellowriver-custom-menu application/cms image/x-cmx text/jcr-cnd text/cnf
application/vnd.rim.cod application/vnd.coffeescript text/vnd.debian.copyright
chemical/x-compass application/x-cpio application/vnd.xmpie.cpkg application/cpl+xml
application/mac-compactpro image/x-canon-cr2 application/x-mscardfile application/pkix-crl
application/x-x509-ca-cert application/vnd.multiad.creator image/x-canon-crw
application/x-chrome-extension application/vnd.rig.cryptonote text/c# chemical/x-cache-csf
application/x-csh application/vnd.citationstyles.style+xml chemical/x-csml text/cson
application/vnd.commonspace application/csrattrs text/css text/csv text/csv-schema
chemical/x-ctx application/cu-seeme chemical/x-gaussian-cube
application/tamp-community-update-confirm text/vnd.curl application/prs.cww text/x-dsrc
model/vnd.collada+xml application/vnd.mobius.daf application/vnd.dart
application/x-ns-proxy-autoconfig application/vnd.fdsn.seed application/davmount+xml
application/docbook+xml application/dcd application/vnd.oma.drm.content application/dicom
text/vnd.curl.dcurl application/vnd.oma.dd+xml application/vnd.oma.dd2+xml
application/vnd.fujixerox.ddd application/vnd.syncml.dmddf+xml
application/vnd.debian.binary-package application/x-deepv application/vnd.dreamfactory
application/x-dgc-compressed text/x-c video/x-dv text/x-diff application/dii
application/vnd.fastcopy-disk-image application/vnd.mobius.dis message/disposition-notification
application/vnd.apple.installer+xml application/dit image/vnd.djvu video/dl audio/dls
application/vnd.oma.drm.message application/x-apple-diskimage text/vnd.dmclientscript
application/vnd.dna application/msword application/vnd.document+json
application/vnd.ms-word.document.macroenabled.12
application/vnd.openxmlformats-officedocument.wordprocessingml.document model/vnd.gdl
text/vnd.graphviz application/vnd.ms-word.template.macroenabled.12
application/vnd.openxmlformats-officedocument.wordprocessingml.template application/vnd.osgi.dp
application/vnd.dpgraph application/vnd.xmpie.dpkg application/vnd.oma.drm.rights+xml
audio/vnd.dra application/vnd.oma.drm.rights+wbxml image/dicom-rle application/drafting
text/prs.lines.tag application/vnd.desmume.movie application/dssc+der application/x-dtbook+xml
application/xml-dtd audio/vnd.dts audio/vnd.dts.hd video/vnd.dvb.file application/dvcs
application/x-dvi model/vnd.dwf image/vnd.dwg chemical/x-jcamp-dx image/vnd.dxf
application/vnd.spotfire.dxp application/vnd.dzr binary/zip audio/vnd.nuera.ecelp4800
audio/vnd.nuera.ecelp7470 audio/vnd.nuera.ecelp9600 application/vnd.evolv.ecig.settings
application/vnd.evolv.ecig.profile application/vnd.evolv.ecig.theme application/ecmascript
application/vnd.novadigm.edm application/vnd.novadigm.edx application/efi application/vnd.picsel
application/vnd.pg.osasli text/ejs application/x-bytecode.elisp chemical/x-embl-dl-nucleotide
image/emf application/vnd.ibm.electronic-media application/emma+xml application/emotionml+xml
application/x-msmetafile text/xml-external-parsed-entity application/x-envoy audio/evrcnw
audio/vnd.digital-winds application/vnd.ms-fontobject application/vnd.bluetooth.ep.oob
application/epub+zip text/erb image/x-epson-erf application/vnd.eszigno3+xml
application/vnd.osgi.subsystem text/godot application/vnd.epson.esf
application/vnd.espass-espass+zip text/x-setext application/x-eva audio/evrcb audio/evrc
audio/evrcwb application/exi image/aces application/vnd.novadigm.ext text/yaml
application/andrew-inset application/vnd.ezpix-album application/vnd.ezpix-package
text/x-fortran video/x-f4v application/x-maker image/vnd.fastbidsheet model/filmbox
application/vnd.adobe.formscentral.fcdt chemical/x-gaussian-checkpoint application/vnd.isac.fcs
application/vnd.fdf application/fdt+xml application/vnd.denovo.fcselayout-link text/gherkin
application/vnd.fujitsu.oasysgp image/x-freehand image/fif application/x-xfig
application/fastinfoset text/fish image/fits application/vnd.dtg.local.flash audio/x-flac
video/x-fli application/vnd.micrografx.flo x-world/x-vrml video/x-flv application/vnd.kde.kivio
text/vnd.fmi.flexstor text/vnd.fly application/vnd.framemaker video/x-atomic3d-feature
application/vnd.frogans.fnc application/vnd.software602.filler.form+xml image/vnd.fpx
application/freeloader application/vnd.ufdl application/vnd.fsc.weblaunch image/vnd.fst
application/vnd.fluxtime.clip application/vnd.anser-web-funds-transfer-initiation audio/make
video/vnd.fvt video/x-javafx application/vnd.adobe.fxp application/vnd.fuzzysheet
application/vnd.geoplan image/g3fax application/vnd.geospace application/vnd.groove-account
chemical/x-gaussian-log application/x-tads chemical/x-gamess-input chemical/x-gaussian-input
application/rpki-ghostbusters application/x-gca-compressed text/x-pcs-gcd
application/x-graphing-calculator chemical/x-gcg8-sequence application/vnd.google-apps.document
text/ruby chemical/x-genbank application/vnd.dynageo application/geo+json
application/vnd.geometry-explorer application/x-tex-gf application/vnd.geogebra.file
application/vnd.geogebra.tool application/vnd.groove-help image/gif
application/vnd.groove-identity-message video/gl model/gltf-binary model/gltf+json
application/gml+xml application/vnd.gmx application/x-gnumeric text/go text/gotmpl
application/vnd.flographit chemical/x-mopac-graph application/gpx+xml application/vnd.grafeq
text/groovy application/srgs application/x-gramps-xml application/vnd.groove-injector
application/srgs+xml audio/x-gsm application/x-font-ghostscript
application/vnd.google-apps.spreadsheet application/vnd.google-apps.presentation
application/x-gsp application/x-gss application/x-gtar application/vnd.groove-tool-message
model/vnd.gtw application/gxf application/vnd.geonext text/gyb text/gyp application/gzip
text/x-chdr text/x-c++hdr video/h261 video/h263 video/h264 application/vnd.hal+xml
text/x-handlebars-template application/x-virtualbox-hdd application/x-hdf image/vnd.radiance
application/vnd.hdt image/heic image/heic-sequence image/heif image/heif-sequence
application/x-helpfile application/vnd.hp-hpgl chemical/x-hin application/hjson text/x-script
application/winhlp application/vnd.hp-hpid application/vnd.hp-hps application/prs.hpub+zip
application/mac-binhex40 text/x-haskell application/hta text/x-component
application/vnd.kenameaapp text/html text/webviewhtml application/vnd.yamaha.hv-dic
application/vnd.yamaha.hv-voice application/vnd.yamaha.hv-script text/haxe
application/vnd.intergeo application/vnd.commerce-battelle application/vnd.iccprofile
x-conference/x-cooltalk binary/icns image/x-icon text/calendar text/idl image/ief
application/vnd.shana.informed.formdata model/iges application/vnd.igloader
application/vnd.insors.igm application/vnd.coreos.ignition+json application/vnd.micrografx.igx
application/vnd.shana.informed.interchange application/x-iphone application/x-ima
application/x-httpd-imap application/vnd.imagemeter.folder+zip
application/vnd.3lightssoftware.imagescal application/vnd.imagemeter.image+zip
application/vnd.accpac.simply.imp application/vnd.ms-ims application/vnd.ims.imsccv1p1 text/inc
application/inf application/x-info text/ini application/inkml+xml application/x-internet-signup
application/x-install-instructions application/vnd.astraea-software.iota application/x-ip2
application/ipfix application/vnd.shana.informed.package application/vnd.ibm.rights-management
application/vnd.irepository.package+xml application/x-iso9660-image chemical/x-isostar
video/x-isvideo audio/it application/vnd.shana.informed.formtemplate application/its+xml
application/x-inventor application/vnd.immervision-ivp i-world/i-vrml
application/vnd.immervision-ivu application/x-livescreen text/jinja
text/vnd.sun.j2me.app-descriptor text/jade application/vnd.jam application/x-java-archive
application/x-java-archive-diff text/x-java-source application/x-java-commerce image/jpeg
application/vnd.jisp image/jls application/vnd.hp-jlyt text/julia application/x-jmol image/x-jng
application/x-java-jnlp-file application/vnd.joost.joda-archive image/jp2 image/jpx image/jpm
video/jpeg image/x-jps application/jrd+json application/javascript application/json
application/json-patch+json application/json5 application/ld+json application/jsonml+json
text/jsx text/vnd.esmertec.theme-descriptor image/jutvision audio/midi
application/vnd.kde.karbon application/pgp-keys application/vnd.apple.keynote
application/vnd.kde.kformula application/vnd.kidspiration application/x-killustrator
chemical/x-kinemage application/vnd.google-earth.kml+xml application/vnd.google-earth.kmz
application/vnd.kinar application/vnd.kde.kontour audio/vnd.audikoz
application/vnd.kde.kpresenter application/vnd.ds-keypoint application/x-ksh
application/vnd.kde.kspread text/kotlin application/vnd.kahootz image/ktx
application/vnd.kde.kword audio/l16 audio/nspaudio audio/x-liveaudio
application/vnd.las.las+json application/vnd.las.las+xml application/x-latex audio/ilbc
application/vnd.llamagraphics.life-balance.desktop
application/vnd.llamagraphics.life-balance.exchange+xml application/vnd.bluetooth.le.oob
application/vnd.hhe.lesson-player text/less application/lgr+xml text/x-literate-haskell
application/bbolin application/vnd.route66.link66+xml application/x-ms-shortcut
application/lostsync+xml application/lost+xml application/vnd.ms-lrm video/x-la-asf
text/x-script.lisp application/vnd.frogans.ltf text/x-lua application/x-lua-bytecode
audio/vnd.lucent.voice application/vnd.lotus-wordpro application/lxf application/x-lyx
application/x-lzx application/vnd.wolfram.mathematica.package application/x-msmediaview
video/mpeg application/mp21 audio/mpeg application/m3g audio/x-mpegurl
application/vnd.apple.mpegurl audio/x-m4a video/iso.segment video/vnd.mpegurl video/x-m4v
application/mathematica application/mads+xml application/vnd.ecowin.chart
application/x-troff-man application/x-navimap text/markdown application/mathml+xml
application/mbedlet application/vnd.mobius.mbk application/mbox
application/x-magic-cap-package-1.0 application/vnd.medcalcdata application/vnd.mcd image/vasa
chemical/x-mmcif chemical/x-macmolecule application/netmc text/vnd.curl.mcurl
application/x-msaccess application/vnd.marlin.drm.mdcf image/vnd.ms-modi application/x-troff-me
model/mesh application/metalink4+xml application/metalink+xml application/mets+xml
application/mf4 application/vnd.mfmp application/rpki-manifest
application/vnd.osgeo.mapguide.package application/vnd.proteus.magazine text/mib
application/x-mie application/x-mif text/mizar video/mj2
audio/x-vnd.audioexplosion.mjuicemediafile video/x-motion-jpeg text/makefile video/x-matroska-3d
audio/x-matroska text/x-markdown video/x-matroska application/vnd.dolby.mlp
application/x-freemind application/vnd.chipnuts.karaoke-mmd application/vnd.maxmind.maxmind-db
application/base64 application/vnd.smaf text/mathml chemical/x-macromodel-input
image/vnd.fujixerox.edmics-mmr application/vnd.wap.mms-message video/x-mng application/x-msmoney
application/x-mobipocket-ebook text/x-moc application/vnd.vd-study application/mods+xml
text/modulemap chemical/x-mdl-molfile chemical/x-mol2 model/vnd.moml+xml chemical/x-mopac-out
video/quicktime chemical/x-mopac-input video/x-sgi-movie audio/mp3 video/mp4 audio/mp4
application/mp4 application/vnd.mophun.certificate application/dash+xml application/dashdelta
text/vnd.ms-mediapackage application/vnd.blueice.multipass application/vnd.mophun.application
application/vnd.ms-project application/x-project application/vnd.ibm.minipay
application/vnd.mobius.mqy application/marc application/marcxml+xml application/x-troff-ms
application/vnd.msa-disk-image application/mediaservercontrol+xml application/vnd.fdsn.mseed
application/vnd.mseq application/vnd.epson.msf application/vnd.ms-outlook application/x-msi
application/vnd.mobius.msl application/vnd.muvee.style model/vnd.mts
audio/vnd.presonus.multitrack application/vnd.musician application/mmt-usd+xml
application/vnd.recordare.musicxml+xml application/vnd.mapbox-vector-tile application/vnd.mfer
application/mxf application/vnd.recordare.musicxml audio/mobile-xmf application/xv+xml
application/vnd.triscape.mxs application/x-vnd.audioexplosion.mzz
application/vnd.nokia.n-gage.symbian.install text/n3 image/naplps application/vnd.wolfram.player
application/vnd.nokia.configuration-message application/x-dtbncx+xml
application/vnd.osa.netdeploy application/vnd.lotus-notes application/vnd.nintendo.nitro.rom
image/x-nikon-nef text/x-nfo application/vnd.nokia.n-gage.data text/ngdoc image/x-niff text/nim
text/nimble application/vnd.nitf application/x-mix-transfer application/vnd.neurolanguage.nlu
application/vnd.enliven application/vnd.noblenet-directory application/vnd.noblenet-sealer
application/vnd.noblenet-web application/vnd.smart.notebook image/vnd.net-fpx
application/n-quads application/x-conference application/n-triples application/vnd.apple.numbers
application/x-navidoc application/x-nwc application/x-nzb application/x-object
application/vnd.oma.drm.dcf application/vnd.fujitsu.oasys2 application/vnd.fujitsu.oasys3
application/vnd.fujitsu.oasys application/x-msbinder application/vnd.openblox.game-binary
application/vnd.openblox.game+xml application/x-tgif application/oda
application/vnd.oasis.opendocument.database application/vnd.oasis.opendocument.chart
application/tei+xml application/vnd.oasis.opendocument.formula
application/vnd.oasis.opendocument.formula-template application/vnd.oasis.opendocument.graphics
application/vnd.oasis.opendocument.image application/vnd.oasis.opendocument.text-master
application/vnd.oasis.opendocument.presentation application/vnd.oasis.opendocument.spreadsheet
application/vnd.oasis.opendocument.text application/odx application/vnd.openeye.oeb audio/ogg
model/vnd.opengex video/ogg application/ogg application/x-omc application/x-omcdatamaker
application/x-omcregerator application/omdoc+xml application/onenote
application/oebps-package+xml text/x-opml application/vnd.palm application/vnd.lotus-organizer
image/x-olympus-orf text/x-org application/ocsp-request application/ocsp-response
application/vnd.yamaha.openscoreformat application/vnd.yamaha.openscoreformat.osfpvg+xml
application/vnd.openstreetmap.data+xml application/vnd.oasis.opendocument.chart-template
font/otf application/vnd.oasis.opendocument.graphics-template
application/vnd.oasis.opendocument.text-web application/vnd.oasis.opendocument.image-template
application/vnd.oasis.opendocument.presentation-template
application/vnd.oasis.opendocument.spreadsheet-template
application/vnd.oasis.opendocument.text-template application/x-virtualbox-ova
application/x-virtualbox-ovf application/owl+xml application/vnd.oxli.countgraph
application/oxps application/vnd.openofficeorg.extension application/x-oz-application
text/x-pascal application/pkcs10 application/pkcs12 application/vnd.wfa.p2p
application/x-pkcs7-signature application/x-pkcs7-certificates application/pkcs7-mime
application/x-pkcs7-certreqresp application/pkcs7-signature application/pkcs8
application/x-java-pack200 application/vnd.autopackage application/vnd.apple.pages
text/plain-bas application/pro_eng text/pascal image/x-coreldrawpattern
application/vnd.pawaafile application/vnd.powerbuilder6 image/x-portable-bitmap
application/x-font-pcf application/vnd.hp-pcl application/vnd.hp-pclxl image/x-pict
application/vnd.curl.pcurl image/x-pcx text/x-processing application/pdf application/pdx
text/pem application/font-tdpfr image/vnd.globalgraphics.pgb image/x-portable-graymap
application/x-chess-pgn application/pgp-encrypted application/x-httpd-php
application/x-httpd-php3 application/x-httpd-php3-preprocessed application/x-httpd-php4
application/x-httpd-php5 application/x-httpd-php-source image/pict
application/vnd.piaccess.application-license application/x-tex-pk application/pkixcmp
application/pkix-pkipath application/ynd.ms-pkipko application/vnd.apple.pkpass
application/x-perl text/plantuml application/vnd.3gpp.pic-bw-large application/vnd.mobius.plc
application/vnd.pocketlearn audio/vnd.everad.plj application/vnd.panoply application/pls+xml
application/x-pixclscript model/stanford application/x-pagemaker application/x-perfmon
application/vnd.ctc-posml image/png image/x-portable-anymap text/pofile text/x-pod
application/vnd.macports.portpkg application/vnd.ms-powerpoint
application/vnd.ms-powerpoint.template.macroenabled.12
application/vnd.openxmlformats-officedocument.presentationml.template model/x-pov text/puppet
application/vnd.ms-powerpoint.addin.macroenabled.12 application/vnd.cups-ppd
application/vnd.xmpie.ppkg image/x-portable-pixmap
application/vnd.ms-powerpoint.slideshow.macroenabled.12
application/vnd.openxmlformats-officedocument.presentationml.slideshow
application/vnd.ms-powerpoint.presentation.macroenabled.12
application/vnd.openxmlformats-officedocument.presentationml.presentation
application/mspowerpoint application/vnd.lotus-freelance application/vnd.preminet
application/pics-rules text/proto text/provenance-notation application/provenance+xml
application/vnd.3gpp.pic-bw-small image/vnd.adobe.photoshop application/x-font-linux-psf
audio/prs.sid application/pskc+xml image/prs.pti application/vnd.pvi.ptid1
application/x-mspublisher text/purescript application/vnd.3gpp.pic-bw-var paleovu/x-pv
application/vnd.3m.post-it-notes text/cython text/x-script.phyton
audio/vnd.ms-playready.media.pya application/x-python-code text/pyi
video/vnd.ms-playready.media.pyv application/vnd.epson.quickanime application/vnd.intu.qbo
application/vnd.ericsson.quickcall audio/qcelp application/vnd.intu.qfx application/x-qgis
image/x-quicktime application/vnd.publishare-delta-tree video/x-qtc
application/x-quicktimeplayer application/vnd.quobject-quoxdocument application/vnd.theqvd
application/vnd.quark.quarkxpress text/r audio/x-realaudio audio/x-pn-realaudio
application/raml+yaml application/route-apd+xml application/x-rar-compressed image/x-cmu-raster
image/cmu-raster application/x-ruby application/vnd.ipunplugged.rcprofile application/prs.nprend
chemical/x-mdl-rdfile application/rdf+xml application/prs.rdf-xml-crypt
application/vnd.data-vision.rdz application/p2p-overlay+xml application/vnd.businessobjects
application/x-dtbresource+xml text/x-script.rexx image/vnd.rn-realflash application/rfc+xml
image/x-rgb application/x-httpd-eruby application/reginfo+xml audio/vnd.rip
application/x-research-info-systems application/resource-lists+xml
image/vnd.fujixerox.edmics-rlc application/resource-lists-diff+xml text/rust
application/vnd.rn-realmedia audio/mid audio/x-pn-realaudio-plugin
application/vnd.jcp.javame.midlet-rms application/vnd.rn-realmedia-vbr
application/relax-ng-compact-syntax text/xml application/vnd.rn-realplayer application/rpki-roa
text/troff chemical/x-rosdal image/vnd.rn-realpix application/vnd.cloanto.rp9
application/x-redhat-package-manager application/vnd.nokia.radio-presets
application/vnd.nokia.radio-preset application/sparql-query application/rls-services+xml
application/rsd+xml application/urc-ressheet+xml application/rss+xml text/prs.fallenstein.rst
text/richtext text/rtf application/x-makeself application/route-usd+xml video/vnd.rn-realvideo
chemical/x-mdl-rxnfile video/vnd.sealed.mpeg1 video/vnd.sealed.mpeg4
application/vnd.sealedmedia.softseal.pdf application/vnd.sealed.xls
image/vnd.sealedmedia.softseal.gif application/vnd.sealedmedia.softseal.html
image/vnd.sealedmedia.softseal.jpg audio/vnd.sealedmedia.softseal.mpeg image/vnd.sealed.png
application/vnd.sealed.ppt video/vnd.sealedmedia.softseal.mov application/vnd.sealed.doc
application/vnd.sealed.3df audio/s3m application/tamp-sequence-adjust-confirm
application/vnd.yamaha.smaf-audio text/html-sandboxed text/x-sass application/x-tbook
application/sbml+xml application/vnd.ibm.secure-container text/x-scala application/x-msschedule
application/scim+json application/vnd.doremir.scorecloud-binary-document
application/vnd.lotus-screencam application/scvp-cv-request application/x-silverlight
application/scvp-cv-response application/vnd.sealed.csf text/x-scss text/scriptlet
text/vnd.curl.scurl chemical/x-mdl-sdfile audio/x-sd2 application/vnd.stardivision.draw
application/vnd.stardivision.calc application/vnd.stardivision.impress
application/vnd.solent.sdkm+xml application/sdp application/sounder
application/vnd.stardivision.writer application/x-sea application/vnd.seemail
application/vnd.sealed.eml application/vnd.sema application/vnd.semd application/vnd.semf
application/java-serialized-object application/set application/set-payment-initiation
application/set-registration-initiation application/vnd.nintendo.snes.rom
application/vnd.font-fontforge-sfd application/vnd.hydrostatix.sof-data
application/vnd.spotfire.sfs text/x-sfv application/x-go-sgf image/sgi
application/vnd.stardivision.writer-global text/sgml application/x-sh application/x-shar
text/shex application/shf+xml text/vnd.wap.si application/vnd.wap.sic image/x-mrsid-image
application/sieve application/pgp-signature audio/silk application/vnd.symbian.install
x-epoc/x-sisx-app application/x-stuffit application/x-stuffitx application/vnd.koan
text/vnd.wap.sl application/vnd.scribus application/vnd.wap.slc
application/vnd.ms-powerpoint.slide.macroenabled.12
application/vnd.openxmlformats-officedocument.presentationml.slide application/route-s-tsid+xml
application/vnd.epson.salt application/vnd.stepmania.stepchart application/vnd.stardivision.math
application/vnd.sealed.mht application/smil+xml video/vnd.radgamettools.smacker
application/vnd.3gpp2.sms video/x-smv application/vnd.stepmania.package application/x-font-snf
text/dns application/sgml-open-catalog application/solids text/x-speech text/spec
application/vnd.yamaha.smaf-phrase application/x-futuresplash text/vnd.in3d.spot
application/scvp-vp-response application/scvp-vp-request application/x-sprite application/x-sql
application/vnd.sigrok.session application/x-wais-source application/x-subrip
application/sru+xml application/sparql-results+xml application/ssdl+xml
application/vnd.kodak-descriptor application/vnd.epson.ssf text/x-server-parsed-html
application/streamingmedia application/ssml+xml application/vnd.ms-pki.certstore
video/vnd.sealed.swf application/vnd.sailingtracker.track application/vnd.sun.xml.calc.template
application/vnd.sun.xml.draw.template application/step application/vnd.wt.stf
application/vnd.sun.xml.impress.template application/vnd.sealed.tiff application/hyperstudio
application/vnd.ms-pki.stl audio/x-stm application/vnd.pg.format
application/vnd.sun.xml.writer.template text/stylus text/vnd.dvb.subtitle
application/vnd.sus-calendar application/x-sv4cpio application/x-sv4crc
application/vnd.dvb.service application/vnd.svd image/x-dwg image/svg+xml chemical/x-swissprot
application/x-shockwave-flash application/vnd.aristanetworks.swi text/swift text/swiftdeps
application/vnd.sun.xml.calc application/vnd.sun.xml.draw application/vnd.sun.xml.writer.global
application/vnd.sun.xml.impress application/vnd.sun.xml.math application/vnd.sun.xml.writer
application/x-t3vm-image image/t38 text/twisted application/vnd.mynfc application/vnd.onepager
application/vnd.onepagertamp application/vnd.onepagertamx
application/vnd.tao.intent-module-archive image/vnd.tencent.tap application/x-tar
application/vnd.onepagertat application/vnd.onepagertatp application/vnd.onepagertatx
application/tamp-apex-update application/toolbook application/vnd.3gpp2.tcap application/x-tcl
text/x-script.tcsh application/tamp-community-update application/urc-targetdesc+xml
application/vnd.smart.teacher application/tamp-error application/x-tex application/x-texinfo
text/terraform application/thraud+xml application/x-tex-tfm image/tiff-fx image/x-tga
chemical/x-mdl-tgf application/vnd.ms-officetheme text/thrift image/tiff text/x-tcl
application/vnd.cendio.thinlinc.clientconf text/texmacs application/vnd.tmobile-livetv
application/vnd.ms-tnef text/toml application/x-bittorrent application/vnd.groove-tool-template
application/vnd.trid.tpt application/vnd.trueapp application/vnd.rainstor.data application/trig
application/x-msterminal video/mp2t application/tamp-sequence-adjust
application/timestamped-data audio/tsp-audio audio/tsplayer application/timestamp-query
application/timestamp-reply application/vnd.etsi.timestamp-token text/tab-separated-values
text/tsx font/collection font/ttf text/turtle application/ttml+xml
application/tamp-update-confirm application/tamp-update image/florian
application/vnd.simtech-mindmapper application/vnd.genomatix.tuxedo application/vnd.mobius.txf
message/global-delivery-status message/global-headers message/global-disposition-notification
message/global text/x-uil application/urc-uisocketdesc+xml text/iuls application/x-glulx
application/vnd.umajin text/uri-list application/vnd.unity application/i-deas
application/vnd.uoml+xml text/vnd.si.uricatalogue application/vnd.uri-map application/x-ustar
application/vnd.uiq.theme text/x-uuencode audio/vnd.dece.audio application/vnd.dece.data
image/vnd.dece.graphic video/vnd.dece.hd video/vnd.dece.mobile video/vnd.dece.pd
video/vnd.dece.sd application/vnd.dece.ttml+xml video/vnd.dece.mp4 video/vnd.dece.video
application/vnd.dece.unspecified application/vnd.dece.zip chemical/x-ncbi-asn1-binary
audio/vnd.nortel.vbk application/x-virtualbox-vbox application/x-virtualbox-vbox-extpack
text/vcard application/x-cdlink text/x-vcard application/vnd.groove-vcard text/x-vcalendar
application/vnd.vcx application/vda application/x-virtualbox-vdi video/vdo text/vdx
application/vnd.tml application/x-virtualbox-vhd text/vim application/vnd.visionary
video/vnd.vivo video/vivo application/vocaltec-media-desc application/x-virtualbox-vmdk
application/vocaltec-media-file chemical/x-vamas-iso14976 application/vnd.valve.source.material
video/x-ms-vob audio/voc video/vosaic audio/voxware multipart/voice-message
audio/x-twinvq-plugin audio/x-twinvq model/vrml x-world/x-vrt
application/vnd.vidsoft.vidconference application/vnd.visio application/vnd.vsf
image/vnd.valve.source.texture text/vtt model/vnd.vtu text/vue application/vnd.vectorworks
application/voicexml+xml application/wordperfect6.0 application/wordperfect6.1
application/x-doom application/vnd.sun.wadl+xml application/wasm audio/wave audio/x-ms-wax
application/x-qpro image/vnd.wap.wbmp application/vnd.criticaltools.wbs+xml
application/vnd.wap.wbxml application/vnd.ms-works image/vnd.ms-photo application/vnd.xara
audio/webm application/x-web-app-manifest+json video/webm application/manifest+json image/webp
application/vnd.pmi.widget application/widget binary/wheel application/watcherinfo+xml
application/x-123 text/wkt application/link-format video/x-ms-wm audio/x-ms-wma
application/vnd.wmc application/x-ms-wmd image/wmf text/vnd.wap.wml application/vnd.wap.wmlc
text/vnd.wap.wmlscript application/vnd.wap.wmlscriptc video/x-ms-wmv video/x-ms-wmx
application/x-ms-wmz font/woff font/woff2 application/wordperfect application/vnd.wordperfect
application/vnd.ms-wpl application/x-lotus application/vnd.wqd application/x-mswrite
message/vnd.wfa.wsc application/wsdl+xml text/wsgi application/wspolicy+xml
application/vnd.webturbo application/x-wintalk application/vnd.wv.csp+wbxml video/x-ms-wvx
application/x-wingz application/vnd.hzn-3d-crossword model/x3d+xml model/x3d+binary
model/x3d-vrml model/vnd.parasolid.transmit.binary model/vnd.parasolid.transmit.text
application/xaml+xml application/x-silverlight-app application/xcap-att+xml
application/x-ms-xbap application/vnd.fujixerox.docuworks.binder image/x-xbitmap
application/xcap-caps+xml application/x-xcf application/calendar+xml
application/vnd.fujixerox.docuworks.container application/bacnet-xdd+zip
application/xcap-diff+xml application/vnd.syncml.dm+xml application/vnd.adobe.xdp+xml
video/x-amt-demorun application/dssc+xml application/vnd.fujixerox.docuworks
application/xcap-el+xml application/xenc+xml application/patch-ops-error+xml
application/vnd.xfdl application/vnd.adobe.xfdf xgl/drawing application/xhtml+xml image/vnd.xiff
application/excel application/vnd.ms-excel application/vnd.ms-excel.addin.macroenabled.12
application/vndms-excel application/x-xliff+xml application/vnd.xmpie.xlim
application/vnd.ms-excel.sheet.binary.macroenabled.12
application/vnd.ms-excel.sheet.macroenabled.12
application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
application/vnd.ms-excel.template.macroenabled.12
application/vnd.openxmlformats-officedocument.spreadsheetml.template audio/xm
application/dskpp+xml xgl/movie application/xcap-ns+xml application/vnd.olpc-sugar
application/xop+xml application/xml application/x-xpinstall application/x-vnd.ls-xpix
application/xproc+xml image/x-xpixmap application/vnd.is-xpr application/vnd.ms-xpsdocument
application/vnd.intercon.formnet text/xquery application/prs.xsf+xml application/xslt+xml
application/vnd.syncml+xml application/xspf+xml video/x-amt-showrun chemical/x-xtel
application/vnd.mozilla.xul+xml image/x-xwindowdump chemical/x-xyz application/x-xz
application/yang application/yin+xml application/vnd.yaoweme text/x-suse-ymp
application/x-zmachine application/vnd.zzazz.deck+xml application/vnd.filmit.zfc
application/vnd.software602.filler.form-xml-zip text/zig application/zip application/vnd.zul
application/vnd.handheld-entertainment+xml text/x-script.zsh
"""
