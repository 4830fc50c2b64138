impl < __Context > :: bincode :: Decode < __Context > for Role
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result :: Ok(Self ::OrgAdmin {}), 1u32
            =>core :: result :: Result :: Ok(Self ::Issuer {}), 2u32 =>core ::
            result :: Result ::
            Ok(Self ::Terminal
            {
                store : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, channel : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?,
            }), 3u32 =>core :: result :: Result :: Ok(Self ::Auditor {}), 4u32
            =>core :: result :: Result :: Ok(Self ::Partner {}), variant
            =>core :: result :: Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "Role", allowed : &:: bincode ::
                error :: AllowedEnumVariants :: Range { min: 0, max: 4 }
            })
        }
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for Role
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result :: Ok(Self ::OrgAdmin {}), 1u32
            =>core :: result :: Result :: Ok(Self ::Issuer {}), 2u32 =>core ::
            result :: Result ::
            Ok(Self ::Terminal
            {
                store : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, channel : :: bincode :: BorrowDecode
                ::< __D :: Context >:: borrow_decode(decoder) ?,
            }), 3u32 =>core :: result :: Result :: Ok(Self ::Auditor {}), 4u32
            =>core :: result :: Result :: Ok(Self ::Partner {}), variant
            =>core :: result :: Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "Role", allowed : &:: bincode ::
                error :: AllowedEnumVariants :: Range { min: 0, max: 4 }
            })
        }
    }
}