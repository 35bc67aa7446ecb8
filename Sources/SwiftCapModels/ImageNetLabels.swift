/// ImageNet-1k class names (index = line number, 0-based) and the plain caption word each maps to,
/// written for this project: one line per class, "name<TAB>caption word". Fine-grained classes
/// map to the word a caption would use ("tabby" and "Egyptian cat" -> cat, breeds -> dog, "sports
/// car" -> car); an empty word means the class is not used as a caption concept.
public enum ImageNetLabels {
    /// (name, caption word) per class index.
    public static let entries: [(name: String, word: String)] = table.split(separator: "\n", omittingEmptySubsequences: false).map { line in
        let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
        return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
    }

    /// The 1000 class names.
    public static let names: [String] = entries.map(\.name)

    /// Name of class `index`, or "class N" outside 0...999.
    public static func name(_ index: Int) -> String {
        entries.indices.contains(index) ? entries[index].name : "class \(index)"
    }

    /// Plain caption word of class `index` ("" when the class is not a caption concept or out of range).
    public static func captionWord(_ index: Int) -> String {
        entries.indices.contains(index) ? entries[index].word : ""
    }

    static let table = """
tench	fish
goldfish	fish
great white shark	shark
tiger shark	shark
hammerhead	shark
electric ray	fish
stingray	fish
cock	chicken
hen	chicken
ostrich	ostrich
brambling	bird
goldfinch	bird
house finch	bird
junco	bird
indigo bunting	bird
robin	bird
bulbul	bird
jay	bird
magpie	bird
chickadee	bird
water ouzel	bird
kite	bird
bald eagle	eagle
vulture	bird
great grey owl	owl
European fire salamander	salamander
common newt	salamander
eft	salamander
spotted salamander	salamander
axolotl	salamander
bullfrog	frog
tree frog	frog
tailed frog	frog
loggerhead	turtle
leatherback turtle	turtle
mud turtle	turtle
terrapin	turtle
box turtle	turtle
banded gecko	lizard
common iguana	lizard
American chameleon	lizard
whiptail	lizard
agama	lizard
frilled lizard	lizard
alligator lizard	lizard
Gila monster	lizard
green lizard	lizard
African chameleon	lizard
Komodo dragon	lizard
African crocodile	crocodile
American alligator	crocodile
triceratops	dinosaur
thunder snake	snake
ringneck snake	snake
hognose snake	snake
green snake	snake
king snake	snake
garter snake	snake
water snake	snake
vine snake	snake
night snake	snake
boa constrictor	snake
rock python	snake
Indian cobra	snake
green mamba	snake
sea snake	snake
horned viper	snake
diamondback	snake
sidewinder	snake
trilobite	fossil
harvestman	spider
scorpion	scorpion
black and gold garden spider	spider
barn spider	spider
garden spider	spider
black widow	spider
tarantula	spider
wolf spider	spider
tick	insect
centipede	centipede
black grouse	bird
ptarmigan	bird
ruffed grouse	bird
prairie chicken	bird
peacock	peacock
quail	bird
partridge	bird
African grey	parrot
macaw	parrot
sulphur-crested cockatoo	parrot
lorikeet	parrot
coucal	parrot
bee eater	bird
hornbill	bird
hummingbird	bird
jacamar	bird
toucan	bird
drake	duck
red-breasted merganser	duck
goose	goose
black swan	swan
tusker	elephant
echidna	echidna
platypus	platypus
wallaby	kangaroo
koala	koala
wombat	wombat
jellyfish	jellyfish
sea anemone	coral
brain coral	coral
flatworm	worm
nematode	worm
conch	snail
snail	snail
slug	slug
sea slug	snail
chiton	snail
chambered nautilus	shell
Dungeness crab	crab
rock crab	crab
fiddler crab	crab
king crab	crab
American lobster	lobster
spiny lobster	lobster
crayfish	crayfish
hermit crab	crab
isopod	bug
white stork	bird
black stork	bird
spoonbill	bird
flamingo	flamingo
little blue heron	bird
American egret	bird
bittern	bird
crane	bird
limpkin	bird
European gallinule	bird
American coot	bird
bustard	bird
ruddy turnstone	bird
red-backed sandpiper	bird
redshank	bird
dowitcher	bird
oystercatcher	bird
pelican	pelican
king penguin	penguin
albatross	bird
grey whale	whale
killer whale	whale
dugong	dugong
sea lion	sea lion
Chihuahua	dog
Japanese spaniel	dog
Maltese dog	dog
Pekinese	dog
Shih-Tzu	dog
Blenheim spaniel	dog
papillon	dog
toy terrier	dog
Rhodesian ridgeback	dog
Afghan hound	dog
basset	dog
beagle	dog
bloodhound	dog
bluetick	dog
black-and-tan coonhound	dog
Walker hound	dog
English foxhound	dog
redbone	dog
borzoi	dog
Irish wolfhound	dog
Italian greyhound	dog
whippet	dog
Ibizan hound	dog
Norwegian elkhound	dog
otterhound	dog
Saluki	dog
Scottish deerhound	dog
Weimaraner	dog
Staffordshire bullterrier	dog
American Staffordshire terrier	dog
Bedlington terrier	dog
Border terrier	dog
Kerry blue terrier	dog
Irish terrier	dog
Norfolk terrier	dog
Norwich terrier	dog
Yorkshire terrier	dog
wire-haired fox terrier	dog
Lakeland terrier	dog
Sealyham terrier	dog
Airedale	dog
cairn	dog
Australian terrier	dog
Dandie Dinmont	dog
Boston bull	dog
miniature schnauzer	dog
giant schnauzer	dog
standard schnauzer	dog
Scotch terrier	dog
Tibetan terrier	dog
silky terrier	dog
soft-coated wheaten terrier	dog
West Highland white terrier	dog
Lhasa	dog
flat-coated retriever	dog
curly-coated retriever	dog
golden retriever	dog
Labrador retriever	dog
Chesapeake Bay retriever	dog
German short-haired pointer	dog
vizsla	dog
English setter	dog
Irish setter	dog
Gordon setter	dog
Brittany spaniel	dog
clumber	dog
English springer	dog
Welsh springer spaniel	dog
cocker spaniel	dog
Sussex spaniel	dog
Irish water spaniel	dog
kuvasz	dog
schipperke	dog
groenendael	dog
malinois	dog
briard	dog
kelpie	dog
komondor	dog
Old English sheepdog	dog
Shetland sheepdog	dog
collie	dog
Border collie	dog
Bouvier des Flandres	dog
Rottweiler	dog
German shepherd	dog
Doberman	dog
miniature pinscher	dog
Greater Swiss Mountain dog	dog
Bernese mountain dog	dog
Appenzeller	dog
EntleBucher	dog
boxer	dog
bull mastiff	dog
Tibetan mastiff	dog
French bulldog	dog
Great Dane	dog
Saint Bernard	dog
Eskimo dog	dog
malamute	dog
Siberian husky	dog
dalmatian	dog
affenpinscher	dog
basenji	dog
pug	dog
Leonberg	dog
Newfoundland	dog
Great Pyrenees	dog
Samoyed	dog
Pomeranian	dog
chow	dog
keeshond	dog
Brabancon griffon	dog
Pembroke	dog
Cardigan	dog
toy poodle	dog
miniature poodle	dog
standard poodle	dog
Mexican hairless	dog
timber wolf	wolf
white wolf	wolf
red wolf	wolf
coyote	coyote
dingo	dog
dhole	dog
African hunting dog	dog
hyena	hyena
red fox	fox
kit fox	fox
Arctic fox	fox
grey fox	fox
tabby	cat
tiger cat	cat
Persian cat	cat
Siamese cat	cat
Egyptian cat	cat
cougar	cougar
lynx	lynx
leopard	leopard
snow leopard	leopard
jaguar	jaguar
lion	lion
tiger	tiger
cheetah	cheetah
brown bear	bear
American black bear	bear
ice bear	bear
sloth bear	bear
mongoose	mongoose
meerkat	meerkat
tiger beetle	beetle
ladybug	beetle
ground beetle	beetle
long-horned beetle	beetle
leaf beetle	beetle
dung beetle	beetle
rhinoceros beetle	beetle
weevil	beetle
fly	fly
bee	bee
ant	ant
grasshopper	grasshopper
cricket	cricket
walking stick	insect
cockroach	cockroach
mantis	mantis
cicada	cicada
leafhopper	insect
lacewing	insect
dragonfly	dragonfly
damselfly	dragonfly
admiral	butterfly
ringlet	butterfly
monarch	butterfly
cabbage butterfly	butterfly
sulphur butterfly	butterfly
lycaenid	butterfly
starfish	starfish
sea urchin	sea urchin
sea cucumber	sea cucumber
wood rabbit	rabbit
hare	rabbit
Angora	rabbit
hamster	hamster
porcupine	porcupine
fox squirrel	squirrel
marmot	marmot
beaver	beaver
guinea pig	guinea pig
sorrel	horse
zebra	zebra
hog	pig
wild boar	pig
warthog	pig
hippopotamus	hippo
ox	cow
water buffalo	buffalo
bison	bison
ram	sheep
bighorn	sheep
ibex	goat
hartebeest	antelope
impala	antelope
gazelle	antelope
Arabian camel	camel
llama	llama
weasel	weasel
mink	weasel
polecat	weasel
black-footed ferret	ferret
otter	otter
skunk	skunk
badger	badger
armadillo	armadillo
three-toed sloth	three-toed sloth
orangutan	orangutan
gorilla	gorilla
chimpanzee	chimpanzee
gibbon	monkey
siamang	monkey
guenon	monkey
patas	monkey
baboon	monkey
macaque	monkey
langur	monkey
colobus	monkey
proboscis monkey	monkey
marmoset	monkey
capuchin	monkey
howler monkey	monkey
titi	monkey
spider monkey	monkey
squirrel monkey	monkey
Madagascar cat	lemur
indri	lemur
Indian elephant	elephant
African elephant	elephant
lesser panda	red panda
giant panda	panda
barracouta	fish
eel	fish
coho	fish
rock beauty	fish
anemone fish	fish
sturgeon	fish
gar	fish
lionfish	fish
puffer	fish
abacus	abacus
abaya	abaya
academic gown	academic gown
accordion	accordion
acoustic guitar	acoustic guitar
aircraft carrier	ship
airliner	airplane
airship	airship
altar	altar
ambulance	ambulance
amphibian	amphibian
analog clock	clock
apiary	apiary
apron	apron
ashcan	trash can
assault rifle	gun
backpack	backpack
bakery	bakery
balance beam	balance beam
balloon	balloon
ballpoint	pen
Band Aid	band aid
banjo	banjo
bannister	bannister
barbell	barbell
barber chair	barber chair
barbershop	barbershop
barn	barn
barometer	barometer
barrel	barrel
barrow	barrow
baseball	baseball
basketball	basketball
bassinet	bassinet
bassoon	bassoon
bathing cap	bathing cap
bath towel	towel
bathtub	bathtub
beach wagon	car
beacon	beacon
beaker	beaker
bearskin	bearskin
beer bottle	bottle
beer glass	glass
bell cote	bell cote
bib	bib
bicycle-built-for-two	bicycle
bikini	bikini
binder	binder
binoculars	binoculars
birdhouse	birdhouse
boathouse	boathouse
bobsled	bobsled
bolo tie	bolo tie
bonnet	bonnet
bookcase	bookcase
bookshop	bookshop
bottlecap	bottlecap
bow	bow
bow tie	bow tie
brass	brass
brassiere	brassiere
breakwater	breakwater
breastplate	breastplate
broom	broom
bucket	bucket
buckle	buckle
bulletproof vest	bulletproof vest
bullet train	train
butcher shop	butcher shop
cab	taxi
caldron	pot
candle	candle
cannon	cannon
canoe	canoe
can opener	can opener
cardigan	cardigan
car mirror	car mirror
carousel	carousel
carpenter's kit	carpenter's kit
carton	carton
car wheel	wheel
cash machine	cash machine
cassette	cassette
cassette player	cassette player
castle	castle
catamaran	boat
CD player	cd player
cello	cello
cellular telephone	phone
chain	chain
chainlink fence	chainlink fence
chain mail	chain mail
chain saw	chain saw
chest	chest
chiffonier	chiffonier
chime	chime
china cabinet	china cabinet
Christmas stocking	christmas stocking
church	church
cinema	cinema
cleaver	cleaver
cliff dwelling	cliff dwelling
cloak	cloak
clog	clog
cocktail shaker	cocktail shaker
coffee mug	mug
coffeepot	coffeepot
coil	coil
combination lock	combination lock
computer keyboard	keyboard
confectionery	confectionery
container ship	ship
convertible	car
corkscrew	corkscrew
cornet	cornet
cowboy boot	cowboy boot
cowboy hat	cowboy hat
cradle	cradle
crane	crane
crash helmet	crash helmet
crate	crate
crib	crib
Crock Pot	crock pot
croquet ball	croquet ball
crutch	crutch
cuirass	cuirass
dam	dam
desk	desk
desktop computer	computer
dial telephone	phone
diaper	diaper
digital clock	clock
digital watch	watch
dining table	table
dishrag	dishrag
dishwasher	dishwasher
disk brake	disk brake
dock	dock
dogsled	dogsled
dome	dome
doormat	doormat
drilling platform	drilling platform
drum	drum
drumstick	drumstick
dumbbell	dumbbell
Dutch oven	dutch oven
electric fan	electric fan
electric guitar	electric guitar
electric locomotive	train
entertainment center	entertainment center
envelope	envelope
espresso maker	espresso maker
face powder	face powder
feather boa	feather boa
file	file
fireboat	boat
fire engine	fire truck
fire screen	fire screen
flagpole	flagpole
flute	flute
folding chair	chair
football helmet	football helmet
forklift	forklift
fountain	fountain
fountain pen	fountain pen
four-poster	four-poster
freight car	train
French horn	french horn
frying pan	frying pan
fur coat	fur coat
garbage truck	truck
gasmask	gasmask
gas pump	gas pump
goblet	goblet
go-kart	go-kart
golf ball	golf ball
golfcart	golf cart
gondola	boat
gong	gong
gown	gown
grand piano	piano
greenhouse	greenhouse
grille	grille
grocery store	grocery store
guillotine	guillotine
hair slide	hair slide
hair spray	hair spray
half track	half track
hammer	hammer
hamper	hamper
hand blower	hand blower
hand-held computer	computer
handkerchief	handkerchief
hard disc	hard disc
harmonica	harmonica
harp	harp
harvester	harvester
hatchet	hatchet
holster	holster
home theater	home theater
honeycomb	honeycomb
hook	hook
hoopskirt	hoopskirt
horizontal bar	horizontal bar
horse cart	horse cart
hourglass	hourglass
iPod	ipod
iron	iron
jack-o'-lantern	jack-o'-lantern
jean	jean
jeep	jeep
jersey	jersey
jigsaw puzzle	jigsaw puzzle
jinrikisha	jinrikisha
joystick	joystick
kimono	kimono
knee pad	knee pad
knot	knot
lab coat	lab coat
ladle	ladle
lampshade	lampshade
laptop	laptop
lawn mower	lawn mower
lens cap	lens cap
letter opener	letter opener
library	library
lifeboat	lifeboat
lighter	lighter
limousine	car
liner	ship
lipstick	lipstick
Loafer	shoe
lotion	lotion
loudspeaker	loudspeaker
loupe	loupe
lumbermill	lumbermill
magnetic compass	magnetic compass
mailbag	mailbag
mailbox	mailbox
maillot	swimsuit
maillot	swimsuit
manhole cover	manhole cover
maraca	maraca
marimba	marimba
mask	mask
matchstick	matchstick
maypole	maypole
maze	maze
measuring cup	measuring cup
medicine chest	medicine chest
megalith	megalith
microphone	microphone
microwave	microwave
military uniform	military uniform
milk can	milk can
minibus	bus
miniskirt	miniskirt
minivan	van
missile	missile
mitten	mitten
mixing bowl	mixing bowl
mobile home	mobile home
Model T	car
modem	modem
monastery	monastery
monitor	monitor
moped	scooter
mortar	mortar
mortarboard	mortarboard
mosque	mosque
mosquito net	mosquito net
motor scooter	scooter
mountain bike	bicycle
mountain tent	mountain tent
mouse	mouse
mousetrap	mousetrap
moving van	truck
muzzle	muzzle
nail	nail
neck brace	neck brace
necklace	necklace
nipple	nipple
notebook	laptop
obelisk	obelisk
oboe	oboe
ocarina	ocarina
odometer	odometer
oil filter	oil filter
organ	organ
oscilloscope	oscilloscope
overskirt	overskirt
oxcart	oxcart
oxygen mask	oxygen mask
packet	packet
paddle	paddle
paddlewheel	paddlewheel
padlock	padlock
paintbrush	paintbrush
pajama	pajama
palace	palace
panpipe	panpipe
paper towel	paper towel
parachute	parachute
parallel bars	parallel bars
park bench	bench
parking meter	parking meter
passenger car	train
patio	patio
pay-phone	pay-phone
pedestal	pedestal
pencil box	pencil box
pencil sharpener	pencil sharpener
perfume	perfume
Petri dish	petri dish
photocopier	photocopier
pick	pick
pickelhaube	pickelhaube
picket fence	picket fence
pickup	truck
pier	pier
piggy bank	piggy bank
pill bottle	pill bottle
pillow	pillow
ping-pong ball	ping-pong ball
pinwheel	pinwheel
pirate	pirate
pitcher	pitcher
plane	plane
planetarium	planetarium
plastic bag	plastic bag
plate rack	plate rack
plow	plow
plunger	plunger
Polaroid camera	polaroid camera
pole	pole
police van	van
poncho	poncho
pool table	pool table
pop bottle	pop bottle
pot	pot
potter's wheel	potter's wheel
power drill	power drill
prayer rug	prayer rug
printer	printer
prison	prison
projectile	projectile
projector	projector
puck	puck
punching bag	punching bag
purse	purse
quill	quill
quilt	quilt
racer	car
racket	racket
radiator	radiator
radio	radio
radio telescope	radio telescope
rain barrel	rain barrel
recreational vehicle	camper
reel	reel
reflex camera	camera
refrigerator	refrigerator
remote control	remote
restaurant	restaurant
revolver	revolver
rifle	rifle
rocking chair	chair
rotisserie	rotisserie
rubber eraser	rubber eraser
rugby ball	rugby ball
rule	rule
running shoe	shoe
safe	safe
safety pin	safety pin
saltshaker	saltshaker
sandal	sandal
sarong	sarong
sax	sax
scabbard	scabbard
scale	scale
school bus	bus
schooner	ship
scoreboard	scoreboard
screen	screen
screw	screw
screwdriver	screwdriver
seat belt	seat belt
sewing machine	sewing machine
shield	shield
shoe shop	shoe shop
shoji	shoji
shopping basket	shopping basket
shopping cart	shopping cart
shovel	shovel
shower cap	shower cap
shower curtain	shower curtain
ski	ski
ski mask	ski mask
sleeping bag	sleeping bag
slide rule	slide rule
sliding door	sliding door
slot	slot
snorkel	snorkel
snowmobile	snowmobile
snowplow	snowplow
soap dispenser	soap dispenser
soccer ball	soccer ball
sock	sock
solar dish	solar dish
sombrero	sombrero
soup bowl	soup bowl
space bar	space bar
space heater	space heater
space shuttle	space shuttle
spatula	spatula
speedboat	boat
spider web	spider web
spindle	spindle
sports car	car
spotlight	spotlight
stage	stage
steam locomotive	train
steel arch bridge	steel arch bridge
steel drum	steel drum
stethoscope	stethoscope
stole	stole
stone wall	stone wall
stopwatch	stopwatch
stove	stove
strainer	strainer
streetcar	tram
stretcher	stretcher
studio couch	couch
stupa	stupa
submarine	submarine
suit	suit
sundial	sundial
sunglass	sunglasses
sunglasses	sunglasses
sunscreen	sunscreen
suspension bridge	suspension bridge
swab	swab
sweatshirt	sweatshirt
swimming trunks	swimming trunks
swing	swing
switch	switch
syringe	syringe
table lamp	table lamp
tank	tank
tape player	tape player
teapot	teapot
teddy	teddy bear
television	television
tennis ball	tennis ball
thatch	thatch
theater curtain	theater curtain
thimble	thimble
thresher	thresher
throne	throne
tile roof	tile roof
toaster	toaster
tobacco shop	tobacco shop
toilet seat	toilet
torch	torch
totem pole	totem pole
tow truck	truck
toyshop	toyshop
tractor	tractor
trailer truck	truck
tray	tray
trench coat	trench coat
tricycle	tricycle
trimaran	boat
tripod	tripod
triumphal arch	arch
trolleybus	bus
trombone	trombone
tub	tub
turnstile	turnstile
typewriter keyboard	typewriter keyboard
umbrella	umbrella
unicycle	unicycle
upright	upright
vacuum	vacuum
vase	vase
vault	vault
velvet	velvet
vending machine	vending machine
vestment	vestment
viaduct	viaduct
violin	violin
volleyball	volleyball
waffle iron	waffle iron
wall clock	wall clock
wallet	wallet
wardrobe	wardrobe
warplane	airplane
washbasin	washbasin
washer	washer
water bottle	bottle
water jug	water jug
water tower	water tower
whiskey jug	whiskey jug
whistle	whistle
wig	wig
window screen	window screen
window shade	window shade
Windsor tie	windsor tie
wine bottle	bottle
wing	wing
wok	wok
wooden spoon	wooden spoon
wool	wool
worm fence	worm fence
wreck	shipwreck
yawl	boat
yurt	yurt
web site	
comic book	comic book
crossword puzzle	crossword puzzle
street sign	sign
traffic light	traffic light
book jacket	book jacket
menu	menu
plate	plate
guacamole	guacamole
consomme	consomme
hot pot	hot pot
trifle	trifle
ice cream	ice cream
ice lolly	popsicle
French loaf	bread
bagel	bagel
pretzel	pretzel
cheeseburger	burger
hotdog	hot dog
mashed potato	mashed potato
head cabbage	head cabbage
broccoli	broccoli
cauliflower	cauliflower
zucchini	zucchini
spaghetti squash	spaghetti squash
acorn squash	acorn squash
butternut squash	butternut squash
cucumber	cucumber
artichoke	artichoke
bell pepper	bell pepper
cardoon	cardoon
mushroom	mushroom
Granny Smith	apple
strawberry	strawberry
orange	orange
lemon	lemon
fig	fig
pineapple	pineapple
banana	banana
jackfruit	jackfruit
custard apple	custard apple
pomegranate	pomegranate
hay	hay
carbonara	carbonara
chocolate sauce	chocolate sauce
dough	dough
meat loaf	meat loaf
pizza	pizza
potpie	potpie
burrito	burrito
red wine	wine
espresso	coffee
cup	cup
eggnog	eggnog
alp	mountain
bubble	bubble
cliff	cliff
coral reef	coral reef
geyser	geyser
lakeside	lake
promontory	promontory
sandbar	sandbar
seashore	beach
valley	valley
volcano	volcano
ballplayer	baseball player
groom	groom
scuba diver	diver
rapeseed	flowers
daisy	flower
yellow lady's slipper	flower
corn	corn
acorn	acorn
hip	hip
buckeye	buckeye
coral fungus	coral fungus
agaric	mushroom
gyromitra	mushroom
stinkhorn	mushroom
earthstar	mushroom
hen-of-the-woods	mushroom
bolete	mushroom
ear	corn
toilet tissue	toilet paper
"""
}
